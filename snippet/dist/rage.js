()=>{let e,t,r,o=0;m("click",i=>{let a=l();a-o<1e3&&Math.hypot(e-i.clientX,t-i.clientY)<30?r++:(o=a,e=i.clientX,t=i.clientY,r=1),3==r&&R("rage_click",void 0,b(p(i)))})}
