()=>{let c,e;r("click",t=>{const _=Date.now();c&&_-c[0]<1e3&&Math.abs(c[1]-t.clientX)<30&&Math.abs(c[2]-t.clientY)<30?e++:(c=[_,t.clientX,t.clientY],e=1),3==e&&I("rage_click",void 0,{el:s(u(t))})})}
