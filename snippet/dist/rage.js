()=>{let e,t,r,o=0;p("click",i=>{let l=a();l-o<1e3&&Math.hypot(e-i.clientX,t-i.clientY)<30?r++:(o=l,e=i.clientX,t=i.clientY,r=1),3==r&&T("rage_click",void 0,C(v(i)))})}
